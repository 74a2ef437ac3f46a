"""What the CPU computes natively, read from /proc/cpuinfo's flags (no TensorFlow needed).

    native_bfloat16()        "AMX", "AVX512-BF16", "" (neither) or None (cannot tell)

bfloat16 matrix products run natively on x86 CPUs with AMX (`amx_bf16`, Intel Xeon since
Sapphire Rapids) or AVX512-BF16 (`avx512_bf16`, Intel Cooper Lake and later, AMD Zen 4 and
later); elsewhere oneDNN emulates them through float32 and bfloat16 is slower than float32.
PIX2PIX_CPUINFO names another file to read instead of /proc/cpuinfo (tests use it to play a
CPU without bfloat16).
"""

import os

CPUINFO = "/proc/cpuinfo"
CPUINFO_VARIABLE = "PIX2PIX_CPUINFO"

# The flag that makes bfloat16 native, best first, with the name people know it by.
BFLOAT16_FLAGS = (("amx_bf16", "AMX"), ("avx512_bf16", "AVX512-BF16"))


def cpu_flags(path=None):
    """The set of flags on the first `flags` line of PATH (default: $PIX2PIX_CPUINFO or
    /proc/cpuinfo); None where there is no such file or line (not Linux, not x86)."""
    path = path or os.environ.get(CPUINFO_VARIABLE) or CPUINFO
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "flags":
                    return set(value.split())
    except OSError:
        return None
    return None


def native_bfloat16(flags=None):
    """How this CPU computes bfloat16 natively: "AMX", "AVX512-BF16", "" (it does not) or None
    (no flags to tell by). FLAGS: a set of cpuinfo flags (default: cpu_flags())."""
    flags = cpu_flags() if flags is None else flags
    if flags is None:
        return None
    for flag, name in BFLOAT16_FLAGS:
        if flag in flags:
            return name
    return ""
