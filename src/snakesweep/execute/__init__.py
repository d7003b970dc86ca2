"""Running a plan's runs: one process, a warm pool, batches, devices and resources."""
