/* day.c: placeholder, being written. */
