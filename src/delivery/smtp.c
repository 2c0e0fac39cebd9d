/* smtp.c: being written. */
