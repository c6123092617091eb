"""The chapters' experiments: runs over seeds and the tables they feed."""
