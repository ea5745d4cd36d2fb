raise RuntimeError('kaput at import')
