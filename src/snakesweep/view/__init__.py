"""What a person looks at: the recording, pictures, the viewer, the live view, the report."""
