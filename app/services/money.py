"""Money is integer fen everywhere; this is how it is written out as yuan (never through a float)."""


def yuan(fen):
    """Integer fen as yuan with two decimals: 16800 -> "168.00", -5 -> "-0.05", None -> "0.00".
    For messages, the audit log and CSV; templates use the |yuan filter, which is this."""
    fen = int(fen or 0)
    sign, fen = ("-" if fen < 0 else ""), abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"
