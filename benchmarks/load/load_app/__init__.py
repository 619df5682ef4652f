"""The notification types of the delivery benchmark (``run.py deliver``): installed only
in that run, whose settings configure the channels they use."""
