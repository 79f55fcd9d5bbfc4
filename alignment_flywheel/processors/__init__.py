"""Stream processors (faust-streaming), imported as ``alignment_flywheel.processors``."""
