"""The template repository's own tests: render the template and run what it renders."""
