#!/usr/bin/env python3
"""The ALI training step of any preset in PyTorch eager mode (Debian's python3-torch, the same LibTorch
1.13 build as the C++ core): the peer a user would otherwise run, for a side-by-side speed ratio.
The architecture comes from `bench_core --dump-arch NAME` (JSON), so it is exactly the C++ preset:
make_conv_stack's dropout/conv/BN/activation order, the encoder's (mu, log sigma) head, the decoder's
per-pixel output bias, D's x-, z- and joint branches. The update is trainer.cpp's: one forward pass,
D's gradients from L_D and E/G's from L_G (torch.autograd.grad), two Adams. Prints one line:
median step ms and images/s."""
import argparse
import json
import os
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Maxout(nn.Module):
    def forward(self, t):
        b, c, h, w = t.shape
        return t.view(b, 2, c // 2, h, w).max(1)[0]


def stack(layers, cin, slope, maxout=False, p_first=0.0, p_rest=0.0):
    mods = []
    for i, (kind, k, s, cout, bn) in enumerate(layers):
        p = p_first if i == 0 else p_rest
        if p > 0:
            mods.append(nn.Dropout(p))
        conv = nn.ConvTranspose2d if kind == "T" else nn.Conv2d
        mods.append(conv(cin, cout, k, s, bias=not bn))
        if bn:
            mods.append(nn.BatchNorm2d(cout, momentum=0.05))
        if maxout:
            mods.append(Maxout())
            cin = cout // 2
        else:
            mods.append(nn.LeakyReLU(slope))
            cin = cout
    return nn.Sequential(*mods), cin


class Encoder(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.stack, c = stack(a["encoder"], a["image_channels"], a["slope"])
        self.head = nn.Conv2d(c, 2 * a["nlat"], 1)
        self.nlat = a["nlat"]

    def forward(self, x):
        h = self.head(self.stack(x)).flatten(1)
        mu, log_sigma = h[:, : self.nlat], h[:, self.nlat:]
        return mu + log_sigma.exp() * torch.randn_like(mu)


class Decoder(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.stack, c = stack(a["decoder"], a["nlat"], a["slope"])
        self.head = nn.Conv2d(c, a["image_channels"], 1, bias=False)
        s = a["image_size"]
        self.bias = nn.Parameter(torch.zeros(a["image_channels"], s, s))
        self.nlat = a["nlat"]

    def forward(self, z):
        return torch.sigmoid(self.head(self.stack(z.view(-1, self.nlat, 1, 1))) + self.bias)


class Discriminator(nn.Module):
    def __init__(self, a):
        super().__init__()
        m, p1, p2 = a["maxout"], a["dropout_first"], a["dropout_rest"]
        self.dx, cx = stack(a["disc_x"], a["image_channels"], a["slope"], m, p1, p2)
        self.dz, cz = stack(a["disc_z"], a["nlat"], a["slope"], m, p1, p2)
        self.joint, cj = stack(a["disc_joint"], cx + cz, a["slope"], m, p2, p2)
        self.out = nn.Sequential(nn.Dropout(p2), nn.Conv2d(cj, 1, 1)) if p2 > 0 else nn.Conv2d(cj, 1, 1)

    def forward(self, x, z):
        h = torch.cat([self.dx(x), self.dz(z.view(z.size(0), -1, 1, 1))], 1)
        return self.out(self.joint(h)).flatten()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch-json", required=True, help="bench_core --dump-arch NAME output")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    with open(args.arch_json) as f:
        a = json.load(f)
    torch.set_num_threads(args.threads or os.cpu_count())
    E, G, D = Encoder(a), Decoder(a), Discriminator(a)
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
    s, c, n = a["image_size"], a["image_channels"], args.batch
    data = torch.randint(0, 256, (4 * n, c, s, s), dtype=torch.uint8)
    times = []
    for i in range(args.steps + 2):
        t0 = time.perf_counter()
        x = data[torch.randperm(data.size(0))[:n]].float().div_(255)
        z = torch.randn(n, a["nlat"])
        z_hat = E(x)
        x_tilde = G(z)
        logits = D(torch.cat([x, x_tilde]), torch.cat([z_hat, z]))
        l_q, l_p = logits[:n], logits[n:]
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
    print(f"pytorch-eager {a['name']} step: {ms:.1f} ms median over {args.steps} steps "
          f"({n * 1000 / ms:.1f} images/s, {torch.get_num_threads()} threads, torch {torch.__version__})")


if __name__ == "__main__":
    main()
