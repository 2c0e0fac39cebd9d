/* cmd_status.c: placeholder, being written. */
