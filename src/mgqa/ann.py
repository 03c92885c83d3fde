# placeholder until the FAISS study lands
import faiss
def ann_kind(n): return "flat"
def build_ann(v):
    i = faiss.IndexFlatIP(v.shape[1]); i.add(v); return i
def configure_search(index): pass
