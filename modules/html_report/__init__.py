"""HTML pages of jobs: ``report.html`` in every job folder, and ``spectrain compare`` pages."""
