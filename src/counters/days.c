/* days.c: placeholder, being written. */
