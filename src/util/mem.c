/* mem.c: placeholder, being written. */
