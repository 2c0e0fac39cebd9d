/* output.c: placeholder, being written. */
