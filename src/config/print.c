/* print.c: placeholder, being written. */
