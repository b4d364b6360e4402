"""GitHub: the REST API client, publishing a verdict, and the Actions runner contract."""
