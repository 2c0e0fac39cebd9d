/* lookup.c: placeholder, being written. */
