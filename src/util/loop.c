/* loop.c: placeholder, being written. */
