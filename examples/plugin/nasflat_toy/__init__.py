"""nasflat_toy: nasflat extended from outside: space=toy, evaluator=synflow, algo=local_search,
algo/relaxation=tempered, algo/arch_grad=clipped and dataset=blobs (configs in nasflat_toy/conf/)."""
