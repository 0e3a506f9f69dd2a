"""Drive the project's kernel over ZeroMQ with jupyter_client, the way jupyter_kernel_test does,
and check what front ends and nbclient rely on. Run by test/kernel-protocol.test.ts with
JUPYTER_PATH pointing at kernel-setup/jupyter; prints one line per check and exits non-zero on
the first failure.

usage: kernel_protocol.py KERNEL_NAME REPO_ROOT [protocol|training]
  protocol: the messages (kernel_info, execute, errors, status, complete, inspect, is_complete,
            interrupt, shutdown);
  training: Kernel > Interrupt during a smoke teacher run stops it after its step with one line,
            and running the cell again resumes (RETAIL_REPR_RUNS/DATASETS point at a temp tree)."""
import os
import queue
import re
import sys
import time

from jupyter_client.manager import start_new_kernel

KERNEL, ROOT = sys.argv[1], sys.argv[2]
MODE = sys.argv[3] if len(sys.argv) > 3 else "protocol"
TIMEOUT = 120


def check(ok, what, detail=""):
    if not ok:
        print(f"FAIL {what}: {detail}", flush=True)
        sys.exit(1)
    print(f"ok {what}", flush=True)


def drain(kc, parent_id, until_idle=True, timeout=TIMEOUT):
    """iopub messages for one request, up to its idle status."""
    msgs, t0 = [], time.time()
    while time.time() - t0 < timeout:
        try:
            m = kc.get_iopub_msg(timeout=1)
        except queue.Empty:
            continue
        if m["parent_header"].get("msg_id") != parent_id:
            continue
        msgs.append(m)
        if until_idle and m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
            return msgs
    raise TimeoutError(f"no idle for {parent_id}: {[m['msg_type'] for m in msgs]}")


def execute(kc, code, timeout=TIMEOUT):
    msg_id = kc.execute(code)
    reply = kc.get_shell_msg(timeout=timeout)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kc.get_shell_msg(timeout=timeout)
    return reply["content"], drain(kc, msg_id, timeout=timeout)


def kinds(msgs):
    return [m["msg_type"] for m in msgs]


def stream_text(msgs):
    return "".join(m["content"]["text"] for m in msgs if m["msg_type"] == "stream")


def training(km, kc):
    runs = os.environ["RETAIL_REPR_RUNS"]
    setup = 'import * as rr from "retail-repr";\nconst profile = rr.getProfile("smoke");\nawait rr.selectBackend({ log: null });\nawait rr.representationModel(profile, "pretrained");'
    reply, msgs = execute(kc, setup, timeout=600)
    check(reply["status"] == "ok", "smoke data and pretraining", (reply, stream_text(msgs)[-2000:]))
    cell = 'const run = await rr.trainStage(profile, "teacher");\nrun.result.steps'
    msg_id = kc.execute(cell)
    t0 = time.time()
    # The interrupt goes at the main run's first checkpoint (step 10 of 40; the smoke teacher's
    # steps take about 3 s in all, so a fixed delay after it starts could miss them).
    first = os.path.join(runs, "smoke", "teacher", "checkpoint", "checkpoint.json")
    while not os.path.exists(first) and time.time() - t0 < 300:
        time.sleep(0.02)
    km.interrupt_kernel()
    t_int = time.time()
    reply = kc.get_shell_msg(timeout=TIMEOUT)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kc.get_shell_msg(timeout=TIMEOUT)
    reply = reply["content"]
    msgs = drain(kc, msg_id)
    check(reply["status"] == "error" and reply["ename"] == "InterruptedError", "interrupt stops the training cell with an InterruptedError", reply)
    m = re.fullmatch(r"teacher: interrupted at step (\d+) of (\d+); checkpoint saved \(.*\): run the cell again to resume", reply["evalue"])
    check(m is not None and int(m.group(1)) < int(m.group(2)), "one line: the step, the checkpoint, run the cell again", reply["evalue"])
    check(reply["traceback"] == [f"InterruptedError: {reply['evalue']}"], "no stack trace", reply["traceback"])
    check(time.time() - t_int < 60, "stopped within a step", time.time() - t_int)
    check(kinds(msgs)[-2:] == ["error", "status"], "nothing drawn after the interrupt: the error ends the cell", kinds(msgs))
    reply, msgs = execute(kc, cell, timeout=600)
    out = stream_text(msgs)
    check(reply["status"] == "ok", "running the cell again finishes", (reply, out[-2000:]))
    check(f"teacher: resuming from step {m.group(1)} " in out, "and resumes from the checkpoint", out[-2000:])


km, kc = start_new_kernel(kernel_name=KERNEL, startup_timeout=TIMEOUT, cwd=os.path.join(ROOT, "notebooks"))
try:
    if MODE == "training":
        training(km, kc)
        sys.exit(0)
    # kernel_info
    kc.kernel_info()
    info = kc.get_shell_msg(timeout=TIMEOUT)["content"]
    check(info["status"] == "ok" and info["language_info"]["name"] == "typescript" and info["protocol_version"].startswith("5."), "kernel_info", info)

    # execute: the status pair around execute_input, the result as execute_result
    reply, msgs = execute(kc, "1 + 1")
    check(reply["status"] == "ok" and isinstance(reply["execution_count"], int), "execute reply ok with a count", reply)
    check(kinds(msgs)[0] == "status" and msgs[0]["content"]["execution_state"] == "busy", "busy first", kinds(msgs))
    check(kinds(msgs)[-1] == "status", "idle last", kinds(msgs))
    check("execute_input" in kinds(msgs), "execute_input broadcast", kinds(msgs))
    results = [m for m in msgs if m["msg_type"] == "execute_result"]
    check(len(results) == 1 and results[0]["content"]["data"]["text/plain"] == "2" and results[0]["content"]["execution_count"] == reply["execution_count"], "last expression as execute_result", results)
    check(not [m for m in msgs if m["msg_type"] == "stream"], "no stream for the result", kinds(msgs))

    # stream and display_data
    _, msgs = execute(kc, 'console.log("hello"); console.error("warn");')
    streams = {m["content"]["name"]: m["content"]["text"] for m in msgs if m["msg_type"] == "stream"}
    check(streams.get("stdout") == "hello\n" and streams.get("stderr") == "warn\n", "stream stdout and stderr", streams)
    _, msgs = execute(kc, 'import * as tslab from "tslab";\ntslab.display.html("<b>bold</b>");')
    shown = [m["content"]["data"] for m in msgs if m["msg_type"] == "display_data"]
    check(shown and shown[0].get("text/html") == "<b>bold</b>", "display_data", kinds(msgs))

    # errors: runtime and compile, in the reply and as an error message
    reply, msgs = execute(kc, 'throw new RangeError("boom");')
    errors = [m["content"] for m in msgs if m["msg_type"] == "error"]
    check(reply["status"] == "error" and reply["ename"] == "RangeError" and reply["evalue"] == "boom" and isinstance(reply["traceback"], list), "runtime error: ename, evalue, traceback", reply)
    check(len(errors) == 1 and errors[0]["ename"] == "RangeError", "runtime error as an error message", kinds(msgs))
    reply, msgs = execute(kc, 'const n: number = "text";')
    check(reply["status"] == "error" and reply["ename"] == "TypeScriptError" and "not assignable" in reply["evalue"], "compile error: ename, evalue", reply)
    reply, _ = execute(kc, "40 + 2")
    check(reply["status"] == "ok", "the kernel runs on after errors", reply)
    # a "run all": what was queued behind a failing cell is aborted
    first = kc.execute('await new Promise((r) => setTimeout(r, 300)); throw new Error("stop here");')
    second = kc.execute("1")
    got = {}
    while len(got) < 2:
        r = kc.get_shell_msg(timeout=TIMEOUT)
        got[r["parent_header"]["msg_id"]] = r["content"]["status"]
    check(got == {first: "error", second: "aborted"}, "cells queued behind an error are aborted", got)
    drain(kc, first)
    drain(kc, second)

    # the library's errors name the way out in notebook words (a call, not a CLI command)
    reply, _ = execute(kc, 'import * as rr from "retail-repr";\nrr.checkStepFits({ arch: "resnext101_32x8d", pooling: "lca", projDim: 0, classes: 0 }, 224, 64, "train");')
    check(reply["status"] == "error" and reply["ename"] == "HeapLimitError" and 'rr.largestBatch(config, 224, "train")' in reply["evalue"] and "retail-repr info" not in reply["evalue"], "library errors in notebook words", reply)

    # status: no idle while a cell runs, though other requests are answered meanwhile
    msg_id = kc.execute("await new Promise((r) => setTimeout(r, 2000)); 7")
    time.sleep(0.5)
    kc.complete("Math.ma", 7)
    seen, t0, replies = [], time.time(), {}
    while time.time() - t0 < TIMEOUT:
        try:
            m = kc.get_iopub_msg(timeout=0.2)
            seen.append(m)
            if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle" and m["parent_header"].get("msg_id") == msg_id:
                break
        except queue.Empty:
            pass
        try:
            r = kc.get_shell_msg(timeout=0.05)
            replies[r["msg_type"]] = r
        except queue.Empty:
            pass
    states = [(m["content"]["execution_state"], m["parent_header"]["msg_type"]) for m in seen if m["msg_type"] == "status"]
    check(states[0] == ("busy", "execute_request") and states[-1] == ("idle", "execute_request") and all(s == "busy" for s, _ in states[:-1]), "busy from start to end of a running cell", states)
    while "execute_reply" not in replies or "complete_reply" not in replies:
        r = kc.get_shell_msg(timeout=TIMEOUT)
        replies[r["msg_type"]] = r
    check("max" in replies["complete_reply"]["content"]["matches"], "complete answered while a cell runs", replies["complete_reply"]["content"])

    # complete, inspect, is_complete
    kc.complete("Math.ma", 7)
    matches = kc.get_shell_msg(timeout=TIMEOUT)["content"]["matches"]
    check("max" in matches, "complete", matches)
    kc.inspect("Math.max", 6)
    found = kc.get_shell_msg(timeout=TIMEOUT)["content"]
    check(found["status"] == "ok" and found["found"] and "max" in found["data"]["text/plain"], "inspect", found)
    kc.is_complete("function f() {")
    check(kc.get_shell_msg(timeout=TIMEOUT)["content"]["status"] == "incomplete", "is_complete: incomplete")
    kc.is_complete("1 + 1")
    check(kc.get_shell_msg(timeout=TIMEOUT)["content"]["status"] == "complete", "is_complete: complete")

    # interrupt: a cell that waits on nothing that listens is ended at once
    msg_id = kc.execute("await new Promise((r) => setTimeout(r, 60000));")
    time.sleep(1.0)
    t0 = time.time()
    km.interrupt_kernel()
    reply = kc.get_shell_msg(timeout=TIMEOUT)["content"]
    check(reply["status"] == "error" and time.time() - t0 < 10, "interrupt ends a waiting cell", reply)
    drain(kc, msg_id)
    reply, _ = execute(kc, '"still here"')
    check(reply["status"] == "ok", "the kernel is usable after an interrupt", reply)

    # interrupt with a listener (what the training loop does): the cell ends when the work has
    # stopped itself, with the work's own error
    code = """await new Promise((_, reject) => {
  process.once("retail-repr:interrupt", () => setTimeout(() => reject(new Error("stopped cleanly after the step")), 500));
});"""
    msg_id = kc.execute(code)
    time.sleep(1.0)
    km.interrupt_kernel()
    reply = kc.get_shell_msg(timeout=TIMEOUT)["content"]
    check(reply["status"] == "error" and reply["evalue"] == "stopped cleanly after the step", "interrupt goes to a listening loop, the cell ends with its error", reply)
    drain(kc, msg_id)

    # shutdown
    kc.shutdown()  # on the control channel
    r = kc.get_control_msg(timeout=TIMEOUT)
    check(r["msg_type"] == "shutdown_reply", "shutdown_reply", r["msg_type"])
    t0 = time.time()
    while km.is_alive() and time.time() - t0 < 30:
        time.sleep(0.2)
    check(not km.is_alive(), "the kernel exits after shutdown")
finally:
    kc.stop_channels()
    if km.is_alive():
        km.shutdown_kernel(now=True)
