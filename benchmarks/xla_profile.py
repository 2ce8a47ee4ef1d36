"""Where a compiled XLA training step spends its time, and how its convolutions are lowered.

    # from a benchmark, with a compiled JAX step (train_throughput.py --profile_dir):
    summary = xla_profile.profile(step, sync, compiled, out_dir, batch=256, steps=3)
    # again later, from what profile() saved (hlo.txt.gz and the trace under out_dir):
    python benchmarks/xla_profile.py OUT_DIR [--top=25] [--json]

profile() saves the step's optimized HLO (`compiled.as_text()`, gzipped), traces a few executed
steps with jax.profiler (its `*.trace.json.gz`, the Chrome/Perfetto JSON that
`create_perfetto_trace` copies without the metadata), and summarises:

- kernels by total time: the GPU stream events (on a CPU, XLA's thunks), each tied to its HLO
  instruction by the event's `hlo_op` (else by the kernel's name), with the instruction's
  class (cuDNN convolution forward / input gradient / filter gradient, GEMM, loop / input
  (reduction) fusion, copy), its operand + output bytes (so achieved GB/s), and whether it
  computes part of a depthwise layer (an op_name scope naming one: `block_3_depthwise`,
  `conv_dw_3`, `..._dw`; `transpose(...)` scopes are the backward pass);
- the share of kernel time in the depthwise layers, by class;
- the lowering: counts of cuDNN custom calls, GEMMs and fusions by kind, and every
  convolution of a depthwise layer as (direction, custom-call target or opcode,
  feature_group_count, batch_group_count) with how many layers lower that way;
- XLA's cost analysis per image.

No TensorFlow and no device needed to summarise; jax only to trace.
"""
import argparse
import collections
import glob
import gzip
import json
import math
import os
import re
import time

# Bytes per element of the HLO types (s4 / u4 packed two to a byte).
_TYPE_BYTES = {"pred": 1, "s4": 0.5, "u4": 0.5, "s8": 1, "u8": 1, "s16": 2, "u16": 2, "f16": 2,
               "bf16": 2, "s32": 4, "u32": 4, "f32": 4, "s64": 8, "u64": 8, "f64": 8,
               "c64": 8, "c128": 16}
_ARRAY = re.compile(r"\b([a-z]\w*)\[([\d,]*)\]")
_COMPUTATION = re.compile(r"^(?:ENTRY\s+)?%?([\w.\-]+)\s*\(.*\)\s*->\s*.*\{\s*$")
_INSTRUCTION = re.compile(r"^\s*(?:ROOT\s+)?%?([\w.\-]+)\s*=\s*(.*)$")
_OPCODE = re.compile(r"\s*([a-z][a-z0-9\-]*)\(")
# A layer scope of a depthwise convolution in an op_name: V2/V3 `..._depthwise`, V1
# `conv_dw_N`, V4 `..._start_dw` / `..._middle_dw`, SSDLite `extra_N_depthwise`.
_DEPTHWISE_SCOPE = re.compile(r"^(?:.*depthwise|.*_dw|conv_dw_\d+)$")
_NOT_KERNELS = {"parameter", "constant", "get-tuple-element", "tuple", "bitcast",
                "after-all", "partition-id", "replica-id"}


def _split_type(rest):
    """'TYPE opcode(args), attrs' -> (TYPE, 'opcode(args), attrs'); tuple types nest."""
    if not rest.startswith("("):
        head, _, tail = rest.partition(" ")
        return head, tail
    depth = 0
    for i, char in enumerate(rest):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            return rest[:i + 1], rest[i + 1:]
    return rest, ""


def _balanced(text, start):
    """The index just past the parenthesis that closes the one at text[start]."""
    depth = 0
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i + 1
    return len(text)


def type_bytes(type_text):
    """Bytes of an HLO type: 'bf16[256,56,56,144]{3,2,1,0}' or a tuple of them."""
    total = 0.0
    for dtype, dims in _ARRAY.findall(type_text):
        total += _TYPE_BYTES.get(dtype, 0) * math.prod(int(d) for d in dims.split(",") if d)
    return int(total)


def _attribute(attrs, name, pattern=r"(\d+)"):
    match = re.search(rf"\b{name}={pattern}", attrs)
    return match.group(1) if match else None


def parse_hlo(text):
    """{"module": name, "entry": computation, "computations": {name: [instruction names]},
    "instructions": {name: {...}}} of an HLO module's text (as compiled.as_text() prints
    it). An instruction: computation, opcode, type, bytes (its output), operands (names),
    op_name (metadata), calls (computations it calls), kind (fusions), target (custom calls),
    feature_group_count / batch_group_count, window, dim_labels, line (cut to 400 chars)."""
    module = re.search(r"HloModule\s+([\w.\-]+)", text)
    parsed = {"module": module.group(1) if module else None, "entry": None,
              "computations": {}, "instructions": {}}
    current = None
    for line in text.splitlines():
        header = _COMPUTATION.match(line)
        if header and not line.startswith(" "):
            current = header.group(1)
            parsed["computations"][current] = []
            if line.startswith("ENTRY"):
                parsed["entry"] = current
            continue
        if line.startswith("}"):
            current = None
            continue
        instruction = _INSTRUCTION.match(line) if current else None
        if not instruction:
            continue
        name, rest = instruction.groups()
        type_text, rest = _split_type(rest.strip())
        opcode = _OPCODE.match(rest)
        if not opcode:
            continue
        open_at = rest.index("(", opcode.start(1))
        close_at = _balanced(rest, open_at)
        args, attrs = rest[open_at + 1:close_at - 1], rest[close_at:]
        op_name = re.search(r'op_name="([^"]*)"', attrs)
        called = re.findall(r"\b(?:calls|to_apply|body|condition)=%?([\w.\-]+)", attrs)
        for group in re.findall(r"(?:called_computations|branch_computations)=\{([^}]*)\}",
                                attrs):
            called += re.findall(r"%?([\w.\-]+)", group)
        parsed["instructions"][name] = {
            "computation": current, "opcode": opcode.group(1), "type": type_text,
            "bytes": type_bytes(type_text), "operands": re.findall(r"%([\w.\-]+)", args),
            "op_name": op_name.group(1) if op_name else "", "calls": called,
            "kind": _attribute(attrs, "kind", r"(k\w+)"),
            "target": _attribute(attrs, "custom_call_target", r'"([^"]+)"'),
            "feature_group_count": int(_attribute(attrs, "feature_group_count") or 1),
            "batch_group_count": int(_attribute(attrs, "batch_group_count") or 1),
            "window": _attribute(attrs, "window", r"\{([^}]*)\}"),
            "dim_labels": _attribute(attrs, "dim_labels", r"([\w>\-]+)"),
            "line": line.strip()[:400]}
        parsed["computations"][current].append(name)
    users = collections.defaultdict(list)
    for name, instruction in parsed["instructions"].items():
        for operand in instruction["operands"]:
            users[operand].append(name)
    parsed["users"] = dict(users)
    return parsed


def op_name(module, name, depth=3):
    """The op_name of instruction `name`, or, where XLA's rewrites dropped it (the CPU's
    dense filter-gradient convolutions keep only a stack frame), the first named one among
    its users, up to `depth` steps downstream."""
    frontier = [name]
    for _ in range(depth + 1):
        for candidate in frontier:
            if module["instructions"][candidate]["op_name"]:
                return module["instructions"][candidate]["op_name"]
        frontier = [user for candidate in frontier for user in module["users"].get(candidate, ())]
    return ""


def depthwise_direction(op_name):
    """"fwd" or "bwd" if op_name is inside a depthwise layer's scope (backward: under a
    transpose(...) of autodiff), else None."""
    tokens = re.findall(r"[A-Za-z0-9_.\-]+", op_name)
    if not any(_DEPTHWISE_SCOPE.match(token) for token in tokens):
        return None
    return "bwd" if "transpose(" in op_name else "fwd"


def _inner(module, name, seen=None):
    """The instructions `name` runs: itself and, through fusions / calls, everything inside."""
    seen = set() if seen is None else seen
    instructions = module["instructions"]
    out = [name]
    for computation in instructions[name]["calls"]:
        if computation in seen:
            continue
        seen.add(computation)
        for inner in module["computations"].get(computation, ()):
            out += _inner(module, inner, seen)
    return out


def _conv_class(instruction, name_of_op=None):
    """"conv fwd" / "conv bwd-input" / "conv bwd-filter" / "conv" for a
    convolution or a cuDNN convolution custom call, else None. A plain convolution whose
    output is kernel-shaped (dim_labels "...->01..": spatial dimensions first) or that has
    batch groups is a filter gradient."""
    target = instruction["target"] or ""
    if instruction["opcode"] == "custom-call" and "conv" in target.lower():
        for key, label in (("BackwardFilter", "conv bwd-filter"),
                           ("BackwardInput", "conv bwd-input"), ("Forward", "conv fwd")):
            if key in target:
                return label
        return "conv"
    if instruction["opcode"] == "convolution":
        output_labels = (instruction["dim_labels"] or "").partition("->")[2]
        if instruction["batch_group_count"] > 1 or output_labels.startswith("01"):
            return "conv bwd-filter"
        name_of_op = instruction["op_name"] if name_of_op is None else name_of_op
        return "conv bwd-input" if "transpose(" in name_of_op else "conv fwd"
    return None


def describe(module, name):
    """What a kernel-level instruction is: class, depthwise direction(s), the convolution
    inside it (if any), bytes read + written."""
    instructions = module["instructions"]
    top = instructions[name]
    inner = [instructions[n] for n in _inner(module, name)]
    directions = {depthwise_direction(i["op_name"]) for i in inner if i["op_name"]}
    if not directions:   # no metadata inside: the users' (op_name())
        directions = {depthwise_direction(op_name(module, name))}
    conv = next((i for i in inner if _conv_class(i)), None)
    target = top["target"] or ""
    if conv is not None:
        klass = _conv_class(conv, op_name(module, name))
    elif top["opcode"] == "custom-call" and re.search(r"gemm|matmul|cublas", target, re.I):
        klass = "gemm"
    elif top["opcode"] == "fusion" and top["kind"] == "kCustom":
        klass = "gemm" if any(i["opcode"] == "dot" for i in inner) else "fusion:kCustom"
    elif top["opcode"] == "fusion":
        klass = f"fusion:{top['kind']}"
    elif top["opcode"] in ("dot", "copy", "transpose"):
        klass = {"dot": "gemm"}.get(top["opcode"], "copy/transpose")
    else:
        klass = top["opcode"]
    operand_bytes = sum(instructions[o]["bytes"] for o in top["operands"] if o in instructions)
    return {"name": name, "class": klass, "opcode": top["opcode"], "kind": top["kind"],
            "target": top["target"] or (conv or {}).get("target"),
            "depthwise": "+".join(sorted(d for d in directions if d)) or None,
            "mixed": bool(directions - {None}) and None in directions,
            "feature_group_count": (conv or top)["feature_group_count"],
            "batch_group_count": (conv or top)["batch_group_count"],
            "bytes": top["bytes"] + operand_bytes, "op_name": (conv or top)["op_name"]}


def _window(instruction):
    """'size=3x3 stride=2x2' of a convolution's window (padding and dilation left out)."""
    window = instruction["window"] or ""
    return " ".join(part for part in window.split() if part.startswith(("size=", "stride=")))


def _dense_filter_gradient(instruction):
    """True for a filter gradient that computes every (input, output) channel pair: its
    output's two largest dimensions are the same channel count, (kh, kw, C, C) in some
    order, where a depthwise kernel is (kh, kw, 1, C)."""
    match = _ARRAY.search(instruction["type"])
    dims = sorted((int(d) for d in match.group(2).split(",") if d), reverse=True) if match else []
    return len(dims) >= 2 and dims[0] == dims[1] > 8


def _groups(count):
    """A group count as the lowering table shows it: 1, or C (one group a channel)."""
    return "C" if count > 1 else "1"


def lowering(module):
    """Counts over the entry computation (and the bodies it calls, but not fusions'
    insides): classes and custom-call targets; and each depthwise layer's convolutions as
    (direction, class, target or opcode, feature groups, batch groups) -> count."""
    instructions = module["instructions"]
    kernels = _kernel_instructions(module)
    classes = collections.Counter(describe(module, n)["class"] for n in kernels)
    targets = collections.Counter(instructions[n]["target"] for n in kernels
                                  if instructions[n]["target"])
    depthwise_convs, examples = collections.Counter(), {}
    for name, instruction in instructions.items():
        named = op_name(module, name)
        klass = _conv_class(instruction, named)
        direction = depthwise_direction(named)
        if klass and direction:
            dense = (" (dense C x C output)" if klass == "conv bwd-filter"
                     and _dense_filter_gradient(instruction) else "")
            key = (f"{direction} {klass}: {instruction['target'] or instruction['opcode']}"
                   f" feature_group_count={_groups(instruction['feature_group_count'])}"
                   f" batch_group_count={_groups(instruction['batch_group_count'])}"
                   f"{'' if klass == 'conv bwd-filter' else ' ' + _window(instruction)}"
                   f"{dense} in {instructions[name]['computation']}"
                   .replace(f" in {module['entry']}", ""))
            key = re.sub(r" in [\w.\-]*fus\w*[\w.\-]*$", " (inside a fusion)", key)
            depthwise_convs[key] += 1
            examples.setdefault(key, instruction["line"])
    return {"kernel_instructions": len(kernels), "classes": dict(classes.most_common()),
            "custom_call_targets": dict(targets.most_common()),
            "depthwise_convolutions": dict(depthwise_convs.most_common()),
            "depthwise_examples": examples}


def _kernel_instructions(module):
    """Instructions that run as kernels or thunks: those of the entry computation and of
    the control-flow bodies it calls (not fusion or reduction bodies)."""
    instructions, names, todo, seen = module["instructions"], [], [module["entry"]], set()
    while todo:
        computation = todo.pop()
        if computation in seen or computation not in module["computations"]:
            continue
        seen.add(computation)
        for name in module["computations"][computation]:
            instruction = instructions[name]
            if instruction["opcode"] in ("while", "conditional", "call", "async-start"):
                todo += instruction["calls"]
            elif instruction["opcode"] not in _NOT_KERNELS:
                names.append(name)
    return names


# ------------------------------------------------------------------------------ the trace

def load_trace(directory):
    """The newest trace JSON jax.profiler wrote under `directory` (`*.trace.json.gz`, else
    `perfetto_trace.json.gz`), or None."""
    for pattern in ("**/*.trace.json.gz", "**/perfetto_trace.json.gz"):
        files = sorted(glob.glob(os.path.join(directory, pattern), recursive=True),
                       key=os.path.getmtime)
        files = [f for f in files if pattern.endswith("perfetto_trace.json.gz")
                 or not f.endswith("perfetto_trace.json.gz")]
        if files:
            with gzip.open(files[-1], "rt") as f:
                return json.load(f), files[-1]
    return None, None


_DERIVED_LINES = ("XLA Modules", "XLA Ops", "Steps", "TensorFlow Ops", "Framework Ops",
                  "Framework Name Scope", "Source code", "Launch Stats", "XLA TraceMe")


def kernel_events(trace, module_name=None):
    """[(name, duration us, start us, hlo_op)] of the device's kernels (stream lines of
    the /device:GPU pids; derived lines skipped), or, with no device in the trace, XLA's CPU
    thunks (host events with an hlo_op). Only `module_name`'s where events name a module."""
    events = trace.get("traceEvents", [])
    process, thread = {}, {}
    for event in events:
        if event.get("ph") == "M" and event.get("name") == "process_name":
            process[event["pid"]] = event.get("args", {}).get("name", "")
        if event.get("ph") == "M" and event.get("name") == "thread_name":
            thread[(event["pid"], event.get("tid"))] = event.get("args", {}).get("name", "")
    devices = {pid for pid, name in process.items()
               if name.startswith("/device:") and "CPU" not in name}
    streams = {key for key, name in thread.items()
               if key[0] in devices and name.lower().startswith("stream")}
    out = []
    for event in events:
        if event.get("ph") != "X":
            continue
        args = event.get("args", {})
        key = (event.get("pid"), event.get("tid"))
        if devices:
            if event.get("pid") not in devices or (streams and key not in streams):
                continue
            if thread.get(key, "") in _DERIVED_LINES:
                continue
        elif "hlo_op" not in args or event.get("name", "").startswith("end: "):
            continue
        if module_name and args.get("hlo_module") and not args["hlo_module"].startswith(
                module_name):
            continue
        out.append((event.get("name", ""), float(event.get("dur", 0)),
                    float(event.get("ts", 0)), args.get("hlo_op")))
    return out, ("device streams" if devices else "host (XLA CPU thunks)")


def xplane_events(directory, module_name=None):
    """kernel_events' list and source from the newest `*.xplane.pb` under `directory`
    (jax.profiler.ProfileData), for a profiler that wrote no trace JSON; ([], None) if none."""
    files = sorted(glob.glob(os.path.join(directory, "**", "*.xplane.pb"), recursive=True),
                   key=os.path.getmtime)
    if not files:
        return [], None
    from jax.profiler import ProfileData
    planes = list(ProfileData.from_file(files[-1]).planes)
    devices = [p for p in planes if p.name.startswith("/device:") and "CPU" not in p.name]
    out = []
    for plane in devices or [p for p in planes if p.name.startswith("/host:CPU")]:
        lines = [line for line in plane.lines if line.name not in _DERIVED_LINES]
        streams = [line for line in lines if line.name.lower().startswith("stream")]
        for line in (streams or lines) if devices else lines:
            for event in line.events:
                stats = dict(event.stats)
                if not devices and ("hlo_op" not in stats or event.name.startswith("end: ")):
                    continue
                hlo_module = str(stats.get("hlo_module", ""))
                if module_name and hlo_module and not hlo_module.startswith(module_name):
                    continue
                out.append((event.name, event.duration_ns / 1e3, event.start_ns / 1e3,
                            stats.get("hlo_op")))
    return out, ("device streams (xplane)" if devices else "host (XLA CPU thunks, xplane)")


def _aggregate(events, module, steps):
    """(rows, total us): events grouped by HLO instruction (hlo_op, else the kernel's name
    matched to an instruction's), each row describe()'s dict plus its time and GB/s."""
    normalised = {re.sub(r"\W", "_", name): name for name in module["instructions"]}
    ops = {}
    for name, duration, _, hlo_op in events:
        key = hlo_op if hlo_op in module["instructions"] else normalised.get(
            re.sub(r"\W", "_", name.split("(")[0]))
        entry = ops.setdefault(key or f"? {name[:80]}", {"us": 0.0, "count": 0,
                                                          "kernels": collections.Counter()})
        entry["us"] += duration
        entry["count"] += 1
        entry["kernels"][name[:100]] += 1
    total = sum(entry["us"] for entry in ops.values()) or 1.0
    rows = []
    for key, entry in ops.items():
        info = (describe(module, key) if key in module["instructions"]
                else {"name": key, "class": "unattributed", "depthwise": None, "bytes": 0})
        rows.append({**info, "ms_per_step": entry["us"] / 1e3 / steps,
                     "share": entry["us"] / total, "calls_per_step": entry["count"] / steps,
                     "kernel": entry["kernels"].most_common(1)[0][0],
                     "gb_per_s": (info["bytes"] * entry["count"] / (entry["us"] * 1e3)
                                  if info.get("bytes") and entry["us"] else None)})
    rows.sort(key=lambda row: -row["ms_per_step"])
    return rows, total


def _unattributed(rows):
    return sum(row["share"] for row in rows if row["class"] == "unattributed")


def summarize(trace, hlo_text, *, steps, batch, cost=None, step_ms=None, label="", top=25,
              trace_dir=None, platform=None):
    """The summary dict (module docstring) of a traced run of `steps` steps: from `trace`
    (the trace JSON), or from trace_dir's xplane.pb where there is no JSON or the JSON's
    events leave more than half the time unattributed to HLO instructions."""
    module = parse_hlo(hlo_text)
    summary = {"label": label, "batch": batch, "steps_traced": steps, "step_ms": step_ms,
               "module": module["module"], "platform": platform,
               "lowering": lowering(module)}
    if cost:
        summary["xla_cost_per_image"] = {
            "gflops": cost.get("flops", 0) / 1e9 / batch,
            "mbytes": cost.get("bytes accessed", 0) / 1e6 / batch}
    events, source = kernel_events(trace, module["module"]) if trace else ([], None)
    rows, total = _aggregate(events, module, steps)
    if trace_dir and (not events or _unattributed(rows) > 0.5):
        other, other_source = xplane_events(trace_dir, module["module"])
        other_rows, other_total = _aggregate(other, module, steps)
        if other and (not events or _unattributed(other_rows) < _unattributed(rows)):
            events, source, rows, total = other, other_source, other_rows, other_total
    if not events:
        summary["trace"] = "not produced" if source is None else f"no kernel events ({source})"
        return summary
    if platform not in (None, "cpu") and source.startswith("host"):
        source = f"host events only, no {platform} lines in the trace (CUPTI missing?)"
    shares = collections.defaultdict(float)
    for row in rows:
        shares[f"{'depthwise ' + row['depthwise'] if row['depthwise'] else 'other'}: "
               f"{row['class']}"] += row["share"]
    span = max(s + d for _, d, s, _ in events) - min(s for _, _, s, _ in events)
    summary.update(
        trace_source=source, kernels_traced=len(events),
        kernel_ms_per_step=total / 1e3 / steps, span_ms_per_step=span / 1e3 / steps,
        depthwise_share=sum(row["share"] for row in rows if row["depthwise"]),
        unattributed_share=_unattributed(rows),
        shares=dict(sorted(shares.items(), key=lambda item: -item[1])),
        top=rows[:top], ops=len(rows))
    return summary


def markdown(summary, top=25, brief=False):
    """The summary as Markdown: headline figures, shares, lowering, the top kernels; brief:
    the 8 commonest lowerings and shares of at least 1% only (for a log's tail)."""
    lines = [f"### {summary['label']} (batch {summary['batch']})", ""]
    cost = summary.get("xla_cost_per_image")
    if cost:
        lines.append(f"XLA cost per image: {cost['gflops']:.2f} GFLOP, "
                     f"{cost['mbytes']:.0f} MB.")
    if "kernel_ms_per_step" in summary:
        measured = (f"; measured step {summary['step_ms']:.2f} ms" if summary.get("step_ms")
                    else "")
        lines.append(
            f"Traced {summary['steps_traced']} steps ({summary['trace_source']}, "
            f"{summary['kernels_traced']} events, {summary['ops']} ops): kernels "
            f"{summary['kernel_ms_per_step']:.2f} ms a step, first to last "
            f"{summary['span_ms_per_step']:.2f} ms{measured}. **Depthwise layers: "
            f"{100 * summary['depthwise_share']:.1f}% of kernel time.**"
            + (f" Not tied to an HLO op: {100 * summary['unattributed_share']:.1f}%."
               if summary.get("unattributed_share") else ""))
    else:
        lines.append(f"Trace: {summary.get('trace', 'none')}.")
    lowered = summary["lowering"]
    lines += ["", "Kernel-level instructions by class: " + ", ".join(
        f"{k} {v}" for k, v in lowered["classes"].items()) + ".",
        "Custom-call targets: " + (", ".join(
            f"{k} {v}" for k, v in lowered["custom_call_targets"].items()) or "none") + ".",
        "", "Depthwise layers' convolutions (count: lowering):"]
    convolutions = list(lowered["depthwise_convolutions"].items())
    lines += [f"- {count}: {key}" for key, count in convolutions[:8 if brief else None]]
    if brief and len(convolutions) > 8:
        lines.append(f"- ... {len(convolutions) - 8} more kinds")
    if not lowered["depthwise_convolutions"]:
        lines.append("- none (no convolution op in a depthwise layer's scope)")
    if "shares" in summary:
        lines += ["", "| share of kernel time | % |", "|---|---:|"]
        lines += [f"| {k} | {100 * v:.1f} |" for k, v in summary["shares"].items()
                  if v >= (0.01 if brief else 0.001)]
        lines += ["", "| # | HLO op | class | depthwise | calls/step | ms/step | % | GB/s | "
                  "kernel |", "|---:|---|---|---|---:|---:|---:|---:|---|"]
        for rank, row in enumerate(summary["top"][:top], start=1):
            groups = (f" g={row['feature_group_count']}" if row.get("feature_group_count", 1) > 1
                      else "") + (f" bg={row['batch_group_count']}"
                                  if row.get("batch_group_count", 1) > 1 else "")
            rate = f"{row['gb_per_s']:.0f}" if row.get("gb_per_s") else "-"
            lines.append(
                f"| {rank} | {row['name'][:40]} | {row['class']}{groups} | "
                f"{row['depthwise'] or ''}{' (mixed)' if row.get('mixed') else ''} | "
                f"{row['calls_per_step']:g} | {row['ms_per_step']:.3f} | "
                f"{100 * row['share']:.1f} | {rate} | {row['kernel'][:60]} |")
    return "\n".join(lines)


# -------------------------------------------------------------------- tracing a step

def profile(step, sync, compiled, out_dir, *, batch, steps=3, step_ms=None, label="",
            top=25):
    """Saves `compiled`'s HLO (hlo.txt.gz) and a jax.profiler trace of `steps` calls of
    step() (trace/) under out_dir, writes summary.json and summary.md there; returns the
    summary. A trace that fails is reported in the summary, the HLO analysis kept."""
    import jax
    os.makedirs(out_dir, exist_ok=True)
    started = time.perf_counter()
    text = compiled.as_text()
    with gzip.open(os.path.join(out_dir, "hlo.txt.gz"), "wt") as f:
        f.write(text)
    try:
        cost = compiled.cost_analysis()
        cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    except Exception:   # noqa: BLE001 - optional information
        cost = None
    trace, error, trace_dir = None, None, os.path.join(out_dir, "trace")
    try:
        sync(step())
        with jax.profiler.trace(trace_dir):
            out = None
            for _ in range(steps):
                out = step()
            sync(out)
        trace, _ = load_trace(trace_dir)
    except Exception as exc:   # noqa: BLE001 - the HLO half is still worth having
        error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
    try:
        summary = summarize(trace, text, steps=steps, batch=batch, cost=cost, step_ms=step_ms,
                            label=label, top=top, trace_dir=trace_dir,
                            platform=jax.devices()[0].platform)
    except Exception as exc:   # noqa: BLE001 - e.g. a trace format this parser misreads
        error = f"summary: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
        summary = summarize(None, text, steps=steps, batch=batch, cost=cost, step_ms=step_ms,
                            label=label, top=top)
    if error:
        summary["trace"] = f"failed: {error}"
    summary["profile_s"] = time.perf_counter() - started
    write(summary, out_dir, top)
    return summary


def write(summary, out_dir, top=25):
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1, default=str)
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write(markdown(summary, top) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", help="a profile() output directory")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--json", action="store_true", help="print the JSON summary")
    args = parser.parse_args()
    previous = {}
    if os.path.exists(os.path.join(args.directory, "summary.json")):
        with open(os.path.join(args.directory, "summary.json")) as f:
            previous = json.load(f)
    with gzip.open(os.path.join(args.directory, "hlo.txt.gz"), "rt") as f:
        text = f.read()
    trace, _ = load_trace(args.directory)
    summary = summarize(trace, text, steps=previous.get("steps_traced", 3),
                        batch=previous.get("batch", 1), step_ms=previous.get("step_ms"),
                        label=previous.get("label", args.directory), top=args.top,
                        trace_dir=args.directory, platform=previous.get("platform"))
    if "xla_cost_per_image" in previous:
        summary["xla_cost_per_image"] = previous["xla_cost_per_image"]
    print(json.dumps(summary, indent=1, default=str) if args.json
          else markdown(summary, args.top))


if __name__ == "__main__":
    main()
