"""The knowledge side of MedAssist: ingest, embed, index and search, with citation ids.

Modules, bottom up::

    types        Section, Modality, IndexKind, Document, Chunk, Filters, Hit
    embeddings   Embedder / ImageEmbedder Protocols, packaged MiniLM, hashing test double
    image_embeddings  CLIP-style image encoder from a local folder; embedder factories
    index        FAISS flat / HNSW / IVF-PQ wrapper with atomic persistence
    store        SQLite metadata (chunks, sources, generation)
    chunking     section-preserving chunking; ingest: files → Documents
    hybrid       BM25 and reciprocal-rank fusion
    knowledge    KnowledgeBase: incremental, crash-safe updates and hybrid search
    config       configs/retrieval.yaml; cli: `medassist index …`; tool: `search_knowledge`
"""
