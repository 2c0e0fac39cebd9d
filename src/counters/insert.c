/* insert.c: placeholder, being written. */
