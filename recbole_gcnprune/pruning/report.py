"""Size and cost of a (pruned) GCNPruneGAN: parameters, bytes, FLOPs of full-sort scoring."""

from recbole_gcnprune.measure import count_parameters, state_dict_bytes


def full_sort_flops(model):
    """FLOPs (multiply and add counted separately) of scoring every user against every item:
    the graph propagation, the layer transforms, and the user x item dot products."""
    width = model.user_embedding.embedding_dim
    n_nodes = model.n_users + model.n_items
    nnz = model.adjacency._nnz()
    flops = model.n_layers * 2 * nnz * width
    for transform in model.transforms:
        hidden = transform.down.out_features
        flops += n_nodes * 2 * (2 * width * hidden + hidden + width)
    flops += 2 * model.n_users * model.n_items * width
    return int(flops)


def size_report(model):
    """Plain-value summary of ``model``'s size and cost."""
    return {
        "widths": {g.name: g.width for g in model.channel_groups()},
        "parameters": count_parameters(model),
        "state_dict_bytes": state_dict_bytes(model),
        "full_sort_flops": full_sort_flops(model),
    }
