module github.com/ingress-egress/ingress-egress

go 1.26
