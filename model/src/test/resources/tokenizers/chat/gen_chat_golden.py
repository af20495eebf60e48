#!/usr/bin/env python3
"""Writes chat_golden.jsonl: the golden strings for ChatTemplateTest.

Each expected string below was written by hand from reading the template (llama3_1 and qwen3 from
../{llama3_1,qwen3}/tokenizer_config.json, features.jinja here), then this script checks it against
Python Jinja2 (3.1.x) set up as transformers' apply_chat_template sets it up:
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]),
tojson = json.dumps(ensure_ascii=False), raise_exception and strftime_now globals, and the variables
messages, tools=None, documents=None, add_generation_prompt and the tokenizer's special tokens
(bos_token, eos_token, ... from tokenizer_config.json). Run: python3 gen_chat_golden.py (needs jinja2).
"""
import json, os
from datetime import datetime
import jinja2, jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))

def env():
    e = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    def raise_exception(message): raise jinja2.exceptions.TemplateError(message)
    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)
    e.filters["tojson"] = tojson
    e.globals["raise_exception"] = raise_exception
    e.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return e

def special_tokens(cfg):
    out = {}
    for k in ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"]:
        v = cfg.get(k)
        if isinstance(v, dict): v = v["content"]
        if v is not None: out[k] = v
    if cfg.get("additional_special_tokens"): out["additional_special_tokens"] = cfg["additional_special_tokens"]
    return out

def load(name):
    if name == "features":
        return open(os.path.join(HERE, "features.jinja")).read(), {"bos_token": "<s>", "eos_token": "</s>"}
    cfg = json.load(open(os.path.join(HERE, "..", name, "tokenizer_config.json")))
    return cfg["chat_template"], special_tokens(cfg)

def M(*pairs): return [{"role": r, "content": c} for r, c in pairs]

LH, LE = "<|start_header_id|>", "<|end_header_id|>\n\n"
B, EOT = "<|begin_of_text|>", "<|eot_id|>"
S, E = "<|im_start|>", "<|im_end|>\n"
CASES = [
  # llama3_1: bos_token before the first message, each message "<header>role<end>\n\n" + content|trim + eot.
  ("llama3_1", "system_user", True, M(("system", "You are a helpful assistant."), ("user", "What is 2+2?")),
   B + LH + "system" + LE + "You are a helpful assistant." + EOT + LH + "user" + LE + "What is 2+2?" + EOT + LH + "assistant" + LE),
  ("llama3_1", "user_only_trimmed", True, M(("user", "  \n Hello, world!\t \n")),
   B + LH + "user" + LE + "Hello, world!" + EOT + LH + "assistant" + LE),
  ("llama3_1", "multi_turn", True, M(("system", "Be brief."), ("user", "Hi"), ("assistant", " Hello! How can I help? "), ("user", "Tell me a joke. 😀 ünïcödé")),
   B + LH + "system" + LE + "Be brief." + EOT + LH + "user" + LE + "Hi" + EOT + LH + "assistant" + LE + "Hello! How can I help?" + EOT
   + LH + "user" + LE + "Tell me a joke. 😀 ünïcödé" + EOT + LH + "assistant" + LE),
  ("llama3_1", "no_generation_prompt", False, M(("user", "Hi"), ("assistant", "Hello")),
   B + LH + "user" + LE + "Hi" + EOT + LH + "assistant" + LE + "Hello" + EOT),
  # qwen3 (no tools): a leading system message is printed first; every user/system message as
  # "<|im_start|>role\ncontent<|im_end|>\n"; an assistant turn before the last real user query keeps only the
  # text after </think>; one after it (ns.last_query_index) gets "<think>\n"+reasoning+"\n</think>\n\n" when it is
  # the last message or has reasoning; tool messages are grouped into one user turn of <tool_response> blocks.
  ("qwen3", "system_user", True, M(("system", "You are Qwen."), ("user", "What is 2+2?")),
   S + "system\nYou are Qwen." + E + S + "user\nWhat is 2+2?" + E + S + "assistant\n"),
  ("qwen3", "user_only", True, M(("user", "  Hello, world!  ")),
   S + "user\n  Hello, world!  " + E + S + "assistant\n"),
  ("qwen3", "multi_turn", True, M(("system", "Be brief."), ("user", "Hi"), ("assistant", "Hello! How can I help?"), ("user", "Tell me a joke. 😀")),
   S + "system\nBe brief." + E + S + "user\nHi" + E + S + "assistant\nHello! How can I help?" + E + S + "user\nTell me a joke. 😀" + E + S + "assistant\n"),
  ("qwen3", "earlier_thinking_dropped", True, M(("user", "2+2?"), ("assistant", "<think>\nAdd them.\n</think>\n\n4"), ("user", "And 3+3?")),
   S + "user\n2+2?" + E + S + "assistant\n4" + E + S + "user\nAnd 3+3?" + E + S + "assistant\n"),
  ("qwen3", "last_assistant_gets_think", False, M(("user", "Hi"), ("assistant", "Hello!")),
   S + "user\nHi" + E + S + "assistant\n<think>\n\n</think>\n\nHello!" + E),
  ("qwen3", "last_assistant_gets_think_gen", True, M(("system", "S"), ("user", "Hi"), ("assistant", "<think>\n\nplan\n\n</think>\n\n\nHello!")),
   S + "system\nS" + E + S + "user\nHi" + E + S + "assistant\n<think>\nplan\n</think>\n\nHello!" + E + S + "assistant\n"),
  ("qwen3", "tool_turns", True, M(("user", "Weather?"), ("assistant", "<think>\nCall the tool.\n</think>\n\nChecking."), ("tool", "{\"t\": 21}"), ("tool", "sunny")),
   S + "user\nWeather?" + E + S + "assistant\n<think>\nCall the tool.\n</think>\n\nChecking." + E
   + S + "user\n<tool_response>\n{\"t\": 21}\n</tool_response>\n<tool_response>\nsunny\n</tool_response>" + E + S + "assistant\n"),
  ("qwen3", "user_tool_response_not_a_query", True, M(("user", "Q"), ("assistant", "A"), ("user", "<tool_response>r</tool_response>")),
   S + "user\nQ" + E + S + "assistant\nA" + E + S + "user\n<tool_response>r</tool_response>" + E + S + "assistant\n"),
  ("qwen3", "system_not_first", True, M(("user", "Hi"), ("system", "Late system.")),
   S + "user\nHi" + E + S + "system\nLate system." + E + S + "assistant\n"),
  ("features", "features", True, M(("user", "Hello world!"), ("skip", "x"), ("assistant", " \u3000Hi\u00a0there\n"), ("user", "Hello?"), ("stop", "y"), ("user", "never")),
   "last_user=5 label=x=6\n"
   "[1 first] USER: Hello world!\n"
   "  string=T starts=T ends=T\n"
   "  strip=<Hello world!> lstrip=<Hello world!> rstrip=<Hello world!> chars=<ello world>\n"
   "  split=[\"Hello\", \"world!\"] split_l=[\"He\", \"\", \"o wor\", \"d!\"] last_word=world! split1=[\"He\", \"lo world!\"]\n"
   "  lower=hello world! title=Hello World! replace=HeLLo worLd! in=T\n"
   "[3] ASSISTANT: Hi\u00a0there\n"
   "  string=T starts=F ends=F\n"
   "  strip=<Hi\u00a0there> lstrip=<\u3000Hi\u00a0there\n> rstrip=< \u3000Hi\u00a0there> chars=<\u3000Hi\u00a0there\n>\n"
   "  split=[\"Hi\", \"there\"] split_l=[\" \u3000Hi\u00a0there\\n\"] last_word=\u3000Hi\u00a0there\n split1=[\" \u3000Hi\u00a0there\\n\"]\n"
   "  lower= \u3000hi\u00a0there\n title= \u3000Hi\u00a0There\n replace= \u3000Hi\u00a0there\n in=F\n"
   "[4] USER: Hello?\n"
   "  string=T starts=T ends=T\n"
   "  strip=<Hello?> lstrip=<Hello?> rstrip=<Hello?> chars=<ello?>\n"
   "  split=[\"Hello?\"] split_l=[\"He\", \"\", \"o?\"] last_word=Hello? split1=[\"He\", \"lo?\"]\n"
   "  lower=hello? title=Hello? replace=HeLLo? in=T\n"
   "first=user last=user rest=5\n"
   "json={\"name\": \"f\", \"args\": {\"q\": \"ünï \\\"x\\\"\\n\", \"n\": [1, 2.5, null, true]}}"
   "GEN <s>|</s>"),
]

def main():
    e, bad = env(), 0
    with open(os.path.join(HERE, "chat_golden.jsonl"), "w", encoding="utf-8") as out:
        for template, name, gen, messages, expected in CASES:
            source, tokens = load(template)
            got = e.from_string(source).render(messages=messages, tools=None, documents=None, add_generation_prompt=gen, **tokens)
            if got != expected:
                bad += 1
                print(f"MISMATCH {template}/{name}:\n  hand  {expected!r}\n  jinja {got!r}")
            out.write(json.dumps({"template": template, "name": name, "add_generation_prompt": gen,
                                  "messages": messages, "expected": expected}, ensure_ascii=False) + "\n")
    print(f"{len(CASES) - bad}/{len(CASES)} hand-derived strings equal Jinja2's rendering")
    raise SystemExit(1 if bad else 0)

if __name__ == "__main__":
    main()
