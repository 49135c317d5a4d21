"""Image ingestion: loading, rendering and describing uploaded images."""
