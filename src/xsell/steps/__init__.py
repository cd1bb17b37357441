"""Step runners: read inputs from the workdir, call the pure stage, write outputs."""
