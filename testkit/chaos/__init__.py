"""The fault suite's parts (issue 9): services the tests start, stop and cut off themselves."""
