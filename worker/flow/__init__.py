"""Where things happen: event -> enrollment -> touch rows -> delivery -> completion recorded."""
