"""skelnb."""
