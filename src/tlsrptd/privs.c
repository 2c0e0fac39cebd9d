/* privs.c: placeholder, being written. */
