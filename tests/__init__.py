"""The spectrain test suite (a package, so `tests` cannot resolve to a site-packages namesake: laion-clap installs one)."""
