"""File I/O. Stages never read or write files; the code here and the step runners do."""
