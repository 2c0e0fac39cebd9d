/* https.c: being written. */
