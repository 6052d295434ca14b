"""The service layer: commands that read the views first (closing a period), verification, and
the decisions shared by HTTP and the import, with the import itself."""
