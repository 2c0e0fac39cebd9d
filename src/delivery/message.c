/* message.c: being written. */
