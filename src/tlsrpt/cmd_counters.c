/* cmd_counters.c: placeholder, being written. */
