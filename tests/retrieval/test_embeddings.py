"""Embedders: the hashing double exactly, the real MiniLM semantically, a tiny CLIP tower."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from retrieval.config import EmbedderSpec, ImageEmbedderSpec, RetrievalConfig
from retrieval.embeddings import HashingEmbedder, SentenceTransformerEmbedder, minilm_path
from retrieval.image_embeddings import CLIPImageEmbedder, make_embedder, make_image_embedder
from retrieval.types import Document, Section
from tests.retrieval.conftest import KBFactory, report_docs
from tools.errors import ConfigError, ToolError


def test_hashing_embedder_is_deterministic_and_normalised() -> None:
    emb = HashingEmbedder(32)
    a, b = emb.embed(["Left effusion", "left EFFUSION"]), emb.embed(["left effusion"])
    assert a.shape == (2, 32) and a.dtype == np.float32
    assert np.allclose(a[0], a[1]) and np.allclose(a[0], b[0])
    assert np.isclose(np.linalg.norm(a[0]), 1.0)
    assert np.allclose(emb.embed([""]), 0.0)


def test_minilm_weights_come_from_the_wheel() -> None:
    path = minilm_path()
    assert "site-packages" in path.parts and (path / "model.safetensors").is_file()


def test_minilm_embeds_meaning(minilm: SentenceTransformerEmbedder) -> None:
    vectors = minilm.embed(
        ["fluid collecting around the lung", "pleural effusion", "fracture of the femur"]
    )
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.1
    assert minilm.embed([]).shape == (0, 384)


def test_knowledge_base_with_minilm_finds_paraphrases(
    open_kb: KBFactory, minilm: SentenceTransformerEmbedder
) -> None:
    kb = open_kb(embedder=minilm)
    kb.add_documents(report_docs())
    # No word in common with the passages found: only the dense ranking can match these.
    hit = kb.search("collapsed lung", 1, mode="dense")[0]
    assert hit.chunk.text == "Small right pneumothorax at the apex."
    hit = kb.search("lung infection", 1)[0]
    assert hit.chunk.text == "Right upper lobe pneumonia." and set(hit.ranks) == {"dense"}


def test_local_model_folder_must_exist(tmp_path: Path) -> None:
    embedder = make_embedder(EmbedderSpec(kind="path", path=str(tmp_path)))
    assert isinstance(embedder, SentenceTransformerEmbedder) and embedder.name == tmp_path.name
    with pytest.raises(ConfigError, match=r"has no config\.json"):
        embedder.embed(["x"])
    with pytest.raises(ValueError, match=r"needs embedder\.path"):
        EmbedderSpec(kind="path")
    assert make_embedder(EmbedderSpec(kind="hashing", dim=16)).dim == 16


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised, tiny CLIP saved locally (its features mean nothing)."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    torch.manual_seed(0)
    config = CLIPConfig(
        text_config={
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "vocab_size": 100,
        },
        vision_config={
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 16,
        },
        projection_dim=8,
    )
    folder = tmp_path_factory.mktemp("tiny-clip")
    CLIPModel(config).save_pretrained(folder)
    CLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    ).save_pretrained(folder)
    return folder


def test_image_search_over_reference_cases(
    open_kb: KBFactory, tiny_clip: Path, tmp_path: Path
) -> None:
    rng = np.random.default_rng(0)
    images = []
    for i in range(3):
        path = tmp_path / f"case{i}.png"
        Image.fromarray(rng.integers(0, 255, (40, 40), dtype=np.uint8)).save(path)
        images.append(path)
    encoder = make_image_embedder(ImageEmbedderSpec(path=str(tiny_clip)))
    assert isinstance(encoder, CLIPImageEmbedder) and encoder.dim == 8
    kb = open_kb(image_embedder=encoder)
    docs = [
        Document(
            f"c{i}.txt", "case", ((Section.IMPRESSION, f"Case {i} impression."),), image_path=str(p)
        )
        for i, p in enumerate(images)
    ]
    kb.add_documents(docs)
    assert kb.stats().image_vectors == 3
    for i, path in enumerate(images):  # each image's nearest case is its own
        assert kb.search_image(path, 1)[0].chunk.source == f"c{i}.txt"


def test_image_search_without_encoder_says_so(open_kb: KBFactory, tmp_path: Path) -> None:
    kb = open_kb(config=RetrievalConfig())
    with pytest.raises(ToolError, match="no image encoder is configured"):
        kb.search_image(tmp_path / "x.png")
