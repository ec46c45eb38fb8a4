"""WHERE COMPLIANCE IS COMPUTED: verdict rules, their recording, the log and the report."""
