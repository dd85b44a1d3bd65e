// Command probe prints what entrytime recorded, for entrytime's tests.
package main

import (
	"fmt"

	"github.com/minirun/minirun/internal/entrytime"
)

func main() {
	entrytime.MarkMain()
	fmt.Println(entrytime.Entry(), entrytime.Init(), entrytime.Main())
}
