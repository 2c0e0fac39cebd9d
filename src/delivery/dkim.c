/* dkim.c: being written. */
