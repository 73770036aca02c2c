"""Rotate the embedding channels into the teacher's principal basis before selecting any.

A dot-product recommender is invariant to one orthogonal rotation ``Q`` of the embedding space:
``(u Q) . (i Q) = u . i``, and LightGCN's propagation, its layer mean and the L2 penalty commute
with it (the residual bottleneck too, once its ``down`` reads and its ``up`` writes in the rotated
basis). So rotating changes nothing the model computes, but it changes what a *channel* is.
In the trained basis the information is spread over every coordinate, and channels are close to
interchangeable: cutting 75% of them loses much of the ranking whichever ones are kept. In the
principal basis of the final embeddings, the leading channels carry most of the score signal.
Selection (GAN, magnitude, taylor, random) then chooses among channels that differ.
This is the "computational invariance" step of SliceGPT (Ashkboos et al., ICLR 2024), applied to
the embedding width of a graph recommender.
"""

import torch
from torch import nn


@torch.no_grad()
def principal_basis(user_embeddings, item_embeddings):
    """Orthogonal ``(d, d)`` basis of the final embeddings, leading direction first, and the
    energy each basis direction carries.

    Columns are the eigenvectors of ``U^T U + I^T I`` (uncentred: scores are dot products), by
    decreasing eigenvalue; each column's sign is fixed so its largest entry is positive. The
    eigenvalues are the energies: ``|U q|^2 + |I q|^2`` of each column ``q``.
    """
    gram = user_embeddings.T @ user_embeddings + item_embeddings.T @ item_embeddings
    values, vectors = torch.linalg.eigh(gram.double())
    order = values.argsort(descending=True)
    vectors = vectors[:, order]
    signs = torch.sign(vectors.gather(0, vectors.abs().argmax(0, keepdim=True)))
    dtype = user_embeddings.dtype
    return (vectors * signs).to(dtype), values[order].clamp(min=0).to(dtype)


@torch.no_grad()
def rotate_group(group, basis):
    """Re-express ``group``'s channels in ``basis``: producers write ``x Q``, consumers read it."""
    for module in group.producers:
        if isinstance(module, nn.Embedding):
            module.weight.copy_(module.weight @ basis)
        else:  # nn.Linear: out = h W^T + b, rotated out = out Q
            module.weight.copy_(basis.T @ module.weight)
            if module.bias is not None:
                module.bias.copy_(module.bias @ basis)
    for module in group.consumers:  # nn.Linear reading x = x' Q^T
        module.weight.copy_(module.weight @ basis)


def rotate_to_principal_basis(model, group_name, user_embeddings, item_embeddings):
    """Rotate ``model``'s group ``group_name`` into the principal basis of the given final
    embeddings; returns the share of ``tr(U^T U + I^T I)`` carried by each rotated channel."""
    basis, energy = principal_basis(user_embeddings, item_embeddings)
    group = next(g for g in model.channel_groups() if g.name == group_name)
    rotate_group(group, basis)
    model.drop_cached_embeddings()
    return (energy / energy.sum()).tolist()
