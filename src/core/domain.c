/* domain.c: placeholder, being written. */
