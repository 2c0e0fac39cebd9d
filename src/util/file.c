/* file.c: placeholder, being written. */
