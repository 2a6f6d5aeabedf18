#!/usr/bin/env python3
"""The svhn32 ALI training step in PyTorch eager mode (Debian's python3-torch, the same LibTorch
build as the C++ core), for a side-by-side speed ratio. Prints the median step time.
Architecture and update exactly as core/src/config.cpp + trainer.cpp: simultaneous update, D from
L_D and E/G from L_G out of one forward pass; BN momentum 0.05; dropout 0.2 on D inputs."""
import argparse
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

SLOPE = 0.01


def stack(specs, cin, dropout=0.0, transposed=False):
    layers = []
    for k, s, cout, bn in specs:
        if dropout:
            layers.append(nn.Dropout(dropout))
        conv = (nn.ConvTranspose2d if transposed and k > 1 else nn.Conv2d)(cin, cout, k, s, bias=not bn)
        layers.append(conv)
        if bn:
            layers.append(nn.BatchNorm2d(cout, momentum=0.05))
        layers.append(nn.LeakyReLU(SLOPE))
        cin = cout
    return nn.Sequential(*layers), cin


class Encoder(nn.Module):
    def __init__(self, nlat=256):
        super().__init__()
        self.stack, c = stack([(5, 1, 32, 1), (4, 2, 64, 1), (4, 1, 128, 1), (4, 2, 256, 1), (4, 1, 512, 1), (1, 1, 512, 1)], 3)
        self.head = nn.Conv2d(c, 2 * nlat, 1)
        self.nlat = nlat

    def forward(self, x):
        h = self.head(self.stack(x)).flatten(1)
        mu, log_sigma = h[:, : self.nlat], h[:, self.nlat :]
        return mu + log_sigma.exp() * torch.randn_like(mu)


class Decoder(nn.Module):
    def __init__(self, nlat=256):
        super().__init__()
        self.stack, c = stack([(4, 1, 256, 1), (4, 2, 128, 1), (4, 1, 64, 1), (4, 2, 32, 1), (5, 1, 32, 1), (1, 1, 32, 1)], nlat, transposed=True)
        self.head = nn.Conv2d(c, 3, 1, bias=False)
        self.bias = nn.Parameter(torch.zeros(3, 32, 32))
        self.nlat = nlat

    def forward(self, z):
        return torch.sigmoid(self.head(self.stack(z.view(-1, self.nlat, 1, 1))) + self.bias)


class Discriminator(nn.Module):
    def __init__(self, nlat=256):
        super().__init__()
        self.dx, cx = stack([(5, 1, 32, 0), (4, 2, 64, 1), (4, 1, 128, 1), (4, 2, 256, 1), (4, 1, 512, 1)], 3, 0.2)
        self.dz, cz = stack([(1, 1, 512, 0), (1, 1, 512, 0)], nlat, 0.2)
        self.joint, cj = stack([(1, 1, 1024, 0), (1, 1, 1024, 0)], cx + cz, 0.2)
        self.out = nn.Sequential(nn.Dropout(0.2), nn.Conv2d(cj, 1, 1))

    def forward(self, x, z):
        h = torch.cat([self.dx(x), self.dz(z.view(z.size(0), -1, 1, 1))], 1)
        return self.out(self.joint(h)).flatten()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    import os
    torch.set_num_threads(a.threads or os.cpu_count())
    E, G, D = Encoder(), Decoder(), Discriminator()
    for m in (E, G, D):
        for name, p in m.named_parameters():
            if p.dim() > 1:
                nn.init.normal_(p, 0, 0.01)
            elif name.endswith("weight"):
                nn.init.ones_(p)
            else:
                nn.init.zeros_(p)
    opt_d = torch.optim.Adam(D.parameters(), 1e-4, betas=(0.5, 0.999))
    g_params = list(E.parameters()) + list(G.parameters())
    opt_g = torch.optim.Adam(g_params, 1e-4, betas=(0.5, 0.999))
    d_params = list(D.parameters())
    data = torch.randint(0, 256, (4 * a.batch, 3, 32, 32), dtype=torch.uint8)
    times = []
    for i in range(a.steps + 2):
        t0 = time.perf_counter()
        idx = torch.randperm(data.size(0))[: a.batch]
        x = data[idx].float().div_(255)
        z = torch.randn(a.batch, 256)
        z_hat = E(x)
        x_tilde = G(z)
        logits = D(torch.cat([x, x_tilde]), torch.cat([z_hat, z]))
        l_q, l_p = logits[: a.batch], logits[a.batch :]
        d_loss = F.softplus(-l_q).mean() + F.softplus(l_p).mean()
        g_loss = F.softplus(l_q).mean() + F.softplus(-l_p).mean()
        d_grads = torch.autograd.grad(d_loss, d_params, retain_graph=True)
        g_grads = torch.autograd.grad(g_loss, g_params)
        for p, g in zip(d_params, d_grads):
            p.grad = g
        for p, g in zip(g_params, g_grads):
            p.grad = g
        opt_d.step()
        opt_g.step()
        float(d_loss)
        if i >= 2:
            times.append((time.perf_counter() - t0) * 1000)
    ms = statistics.median(times)
    print(f"pytorch-eager svhn32 step: {ms:.1f} ms median over {a.steps} steps "
          f"({a.batch * 1000 / ms:.1f} images/s, {torch.get_num_threads()} threads, torch {torch.__version__})")


if __name__ == "__main__":
    main()
